"""Xueji (学籍): student records for Chinese primary and secondary schools."""
