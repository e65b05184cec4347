"""oppbot: a Slack-native sales opportunity pipeline."""
