"""The trading sweep's pure engine: parameter validation and the vectorized crossover backtest."""
