"""Pure torch, no UI: the trainers, the problems, the lr grammar, the plane, ranking, devices, surfaces."""
