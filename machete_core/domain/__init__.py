"""Domain records: tool specs, revisions, images, instances, statuses. Plain frozen attrs."""
