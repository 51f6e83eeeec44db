// Package feed reads and writes the Atom documents of eventfeed.
package feed
