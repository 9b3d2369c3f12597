"""What people use: the commands and the CLI, the dashboard, the documentation site, the demo."""
