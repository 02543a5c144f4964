"""What the dialects' views share: the request's view context, time format, failure reasons."""
