"""The app without Textual (a view model): what the screen shows as plain data (RunView, each
panel's frame, the histories) and the sources that feed it (training: the session and its driver;
replay; watch). Named for what it holds: "run" was the headless command's word too, and "model"
the neural networks'."""
