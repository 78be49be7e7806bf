// Package depsprobe imports, and does nothing with, the third-party
// packages the module builds on, so that the module's requirements list
// them all. No other package imports it.
package depsprobe
