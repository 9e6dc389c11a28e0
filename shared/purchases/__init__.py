"""Purchases: acceptance, the state machine, execution at VTPass, the sweeper, operators."""
