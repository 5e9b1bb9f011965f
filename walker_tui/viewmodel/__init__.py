"""One seed's run without the UI: the session, the driver, what the screen shows (RunView and
its frames), the history, replay and watch."""
