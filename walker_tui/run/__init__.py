"""One seed's run without the UI: session, driver, what the screen shows (RunView), history, replay, watch."""
