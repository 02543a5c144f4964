"""HTTP routes per dialect; each validates, guards in the catalog, launches, renders."""
