"""The training engine (``Trainer``) and its parts: options, loss, optimizer, EMA, freezing, AutoAnchor, results."""
