"""Pure torch, no UI: the trainers, the problems, the lr grammar and the one adaptive rule,
the one plane, ranking, devices and loss surfaces. Imports nothing of run, ui or cli."""
