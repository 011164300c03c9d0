"""mrisynth.cli"""
