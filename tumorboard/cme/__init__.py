"""CME (Fortbildungspunkte, issue 15): accreditation per session (VNR), the chamber's report and the EIV push."""
