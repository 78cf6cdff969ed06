"""Empty Chair: the customer's voice in every Slack meeting, grounded in real complaints."""

__version__ = "0.1.0"
