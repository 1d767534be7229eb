"""The public side of share links: `/s/{token}` pages and downloads for visitors without an account."""
