"""Vital-sign devices: byte codecs (IEEE 11073, NDEF/PHDC, GATT, serial), transports, bedside tap, simulators."""
