"""mrisynth.engine"""
