"""FixMyStreet's ``servicerequestupdates`` extension: the shape of one update, the updates a key
reads, the city's updates posted to a case, and the photos of a fix they point at."""
