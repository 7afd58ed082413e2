"""What deploys a tool besides a person: Git push webhooks and polling of its source."""
