"""marketloop: from the first touch to cash and back."""
