"""The application: services, channels, delivery, web server and command line."""
