"""What is optimised: a typed base, then one module per family."""
