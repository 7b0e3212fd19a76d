// Package distpoint models ConfigMgr 2007 distribution points (DPs): the
// site systems that host package content for devices (reference §1.4, §1.5,
// §3.3, §4.1).
//
// # Contents
//
//   - DistributionPoint and Group: the DP roles of a site and the selection
//     shortcut of the wizards.
//   - PackageStatus and its Transition function: the state of one package
//     on one DP (Install Pending → Installed(v), retries, removal).
//   - Boundary, Client and CurrentBoundary: network locations (IP subnet,
//     IP range, AD site, IPv6 prefix), fast or slow, and which one a device
//     is in.
//   - Locate: content location — which DPs a device should try for a
//     package version, local or remote, protected-DP rules and fallback, and
//     whether the advertisement's fast/slow choices say download, run from
//     the DP, or do not run.
//
// The package is pure: types, validation and decisions as functions of
// their inputs. Copying content is the Site's job.
package distpoint
