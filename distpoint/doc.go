// Package distpoint models ConfigMgr 2007 distribution points (DPs): the
// site systems that host package content for devices, and the state of one
// package on one DP (reference §1.4, §4.1).
//
// This package is pure: types, validation and the package-on-DP state
// machine as a function of events. Copying content is the Site's job.
package distpoint
