"""Simulated bedside hardware speaking real bytes: NFC tags (badges, wristbands, PHDC devices) over nfcpy's
card mode (the `udp` driver needs no hardware) and IEEE 11073 agents built with the codec's encoders."""
