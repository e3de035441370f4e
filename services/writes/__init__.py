"""Writing to Foundry: /push, /reveal and /hide, two-way links, read-back, and the locks that serialise writes."""
