"""Source-independent rules: which URLs are allowed, and the content digest of a fetched tree."""
