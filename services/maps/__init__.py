"""The name maps: listing a world through the relay, the folder tree, the name index, rebuilds, background refresh."""
