"""The web app served by ferry-server at /web: sign in, browse, download, upload, history, devices, admin."""
