"""`vurti bench`: run the whole pipeline against a simulated fleet and measure it."""
