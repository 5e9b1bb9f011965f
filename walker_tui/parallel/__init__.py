"""torch.distributed: what a session needs (sharded) and the app under torchrun (leader)."""
