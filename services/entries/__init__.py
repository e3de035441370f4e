"""Reading an entry and rendering it for a reader: views, images, inline links."""
