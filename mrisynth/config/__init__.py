"""mrisynth.config"""
