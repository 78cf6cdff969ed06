"""The Slack side of the bot: Bolt app, listeners, de-duplication, serving."""
