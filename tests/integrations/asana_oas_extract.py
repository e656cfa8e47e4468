"""Extract the Asana OpenAPI subset Zixly uses (paths + the components they reference).

Usage: python tests/integrations/asana_oas_extract.py asana_oas.yaml \
           tests/integrations/asana_oas_subset.json
asana_oas.yaml is Asana's OpenAPI document (https://github.com/Asana/openapi, defs/asana_oas.yaml).
The source is Apache-2.0 (its info.license); the subset keeps that licence and says where it
came from in info.x-zixly-provenance.
"""

import json
import sys

import yaml

try:
    from yaml import CSafeLoader as L
except ImportError:
    from yaml import SafeLoader as L
with open(sys.argv[1]) as fh:
    src = yaml.load(fh, Loader=L)
PATHS = [
    "/tasks",
    "/tasks/{task_gid}",
    "/projects/{project_gid}/tasks",
    "/projects",
    "/projects/{project_gid}",
    "/webhooks",
    "/webhooks/{webhook_gid}",
    "/workspaces",
    "/users/{user_gid}",
]
out = {k: v for k, v in src.items() if k not in ("paths", "components", "tags", "x-readme", "webhooks")}
out["paths"] = {p: src["paths"][p] for p in PATHS}
out["info"] = dict(src["info"])
out["info"]["x-zixly-provenance"] = (
    "Subset of Asana/openapi@fc9f8dcf224efa8e06bfc955d91dd95aac7a398d:defs/asana_oas.yaml "
    "(blob bd4a0a47365b344958a814e55e029b9e8825c792, Apache-2.0): only the paths Zixly calls and the components "
    "they reference, extracted unchanged otherwise."
)
needed = set()


def walk(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/components/"):
                _, _, kind, name = v.split("/", 3)
                if (kind, name) not in needed:
                    needed.add((kind, name))
                    walk(src["components"][kind][name])
            else:
                walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)


walk(out["paths"])
walk(out.get("security"))
walk({"$ref": "#/components/schemas/EventResponse"})  # what webhooks deliver
comps = {}
for kind, name in sorted(needed):
    comps.setdefault(kind, {})[name] = src["components"][kind][name]
comps["securitySchemes"] = src["components"]["securitySchemes"]
out["components"] = comps
with open(sys.argv[2], "w") as fh:
    json.dump(out, fh, indent=1)
print(len(needed), "components")
