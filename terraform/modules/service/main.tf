# ECS Fargate: one cluster, one task definition and service per Zixly process, all from the
# same image; the command picks the process (as in docker-compose.yml). Migrations run as a
# one-off task of the same definition family before a deploy (see README.md).

locals {
  processes = {
    webhook = {
      command = ["python", "-m", "webhook"]
      port    = 3000
      count   = var.webhook_count
      cpu     = 512
      memory  = 1024
      health  = "/health"
    }
    runner = {
      command = ["python", "-m", "sync"]
      port    = 9102 # /metrics only
      count   = var.runner_count
      cpu     = 1024
      memory  = 2048
      health  = "/metrics"
    }
    dashboard = {
      command = ["streamlit", "run", "app/server.py", "--server.address", "0.0.0.0", "--server.port", "8501", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
      port    = 8501
      count   = var.dashboard_count
      cpu     = 512
      memory  = 1024
      health  = "/_stcore/health"
    }
  }

  environment = merge({
    ZIXLY_ENV                 = "production"
    ZIXLY_LOG_JSON            = "true"
    ZIXLY_BLOB_URL            = var.blob_url
    ZIXLY_PUBLIC_URL          = var.public_url
    ZIXLY_WEBHOOK_BIND        = "0.0.0.0:3000"
    ZIXLY_RUNNER_METRICS_HOST = "0.0.0.0"
    PROMETHEUS_MULTIPROC_DIR  = "/tmp/prometheus-multiproc"
    AWS_DEFAULT_REGION        = var.region
  }, var.environment)
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.processes

  name              = "/ecs/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# --- IAM: the execution role pulls the image and injects secrets; the task role is what the
# --- app itself may do (blobs, secrets backend, queue).

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "execution_secrets" {
  name   = "read-secrets"
  role   = aws_iam_role.execution.id
  policy = var.secrets_read_policy_json
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "task" {
  for_each = var.task_policy_json

  name   = each.key
  role   = aws_iam_role.task.id
  policy = each.value
}

# --- Network: tasks in private subnets; inbound only from the load balancer's security group.

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "Zixly tasks: inbound from the load balancer and Prometheus only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "tasks_all" {
  security_group_id = aws_security_group.tasks.id
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  description       = "Vendor APIs, AWS endpoints, the database"
}

resource "aws_vpc_security_group_ingress_rule" "tasks" {
  for_each = {
    for pair in setproduct(keys(local.processes), var.ingress_security_group_ids) :
    "${pair[0]}-${pair[1]}" => { port = local.processes[pair[0]].port, source = pair[1] }
  }

  security_group_id            = aws_security_group.tasks.id
  referenced_security_group_id = each.value.source
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

# --- One task definition and service per process.

resource "aws_ecs_task_definition" "this" {
  for_each = local.processes

  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([{
    name                   = each.key
    image                  = var.image
    command                = each.value.command
    essential              = true
    readonlyRootFilesystem = false
    portMappings           = [{ containerPort = each.value.port, protocol = "tcp" }]
    environment            = [for k, v in local.environment : { name = k, value = v }]
    secrets                = [for k, arn in var.secret_env : { name = k, valueFrom = arn }]
    stopTimeout            = 60 # runners drain for ZIXLY_RUNNER_GRACE_S after SIGTERM
    healthCheck = {
      command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${each.value.port}${each.value.health}', timeout=3)"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this[each.key].name
        awslogs-region        = var.region
        awslogs-stream-prefix = each.key
      }
    }
  }])

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  for_each = local.processes

  name                               = each.key
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this[each.key].arn
  desired_count                      = each.value.count
  launch_type                        = "FARGATE"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = contains(keys(var.target_group_arns), each.key) ? [var.target_group_arns[each.key]] : []

    content {
      target_group_arn = load_balancer.value
      container_name   = each.key
      container_port   = each.value.port
    }
  }

  tags = var.tags
}
