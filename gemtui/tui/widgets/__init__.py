"""One widget per file: conversation + message, composer, gauges / quota panel, queue panel."""
