"""The walker and its racers, and the training loop they share."""
