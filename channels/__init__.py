"""Provider adapters behind one small interface (``channels.base``), one module or folder per channel.

This package imports no other package of the project (``.importlinter``): it speaks the providers'
wire formats and hands back neutral values; campaigns decides what they mean for a campaign.
"""
