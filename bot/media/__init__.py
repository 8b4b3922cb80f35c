"""Images from elsewhere: a bounded, address-checked fetch, and what kind of image bytes are."""
