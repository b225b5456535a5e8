#!/usr/bin/perl
# Guest-memory collapse helper for lib/snapshots/host-memory.ts (see runHelper there), run as
# `perl collapse-helper.pl <pid> scan|collapse [all|populated]`; prints one JSON line. Only reads /proc
# and issues process_madvise(MADV_COLLAPSE): never changes guest contents.
use strict; use warnings; no warnings 'portable';
use Time::HiRes qw(time);
my ($pid, $cmd, $scope) = @ARGV;
die "usage: <pid> scan|collapse [all|populated]\n" unless defined $pid && $pid =~ /^\d+$/ && defined $cmd;
my $t0 = time; my $PMD = 2097152;
open(my $sm, "<", "/proc/$pid/smaps") or die "cannot read /proc/$pid/smaps: $!\n";
my (@vmas, $cur);
while (<$sm>) {
  if (/^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/) { $cur = { lo => hex($1), hi => hex($2), perms => $3, inode => $4, path => $5 }; push @vmas, $cur }
  elsif (/^VmFlags:(.*)$/ && $cur) { $cur->{flags} = " $1 " }
}
close $sm;
my @ram = grep { $_->{perms} eq "rw-p" && $_->{inode} == 0 && $_->{path} eq "" && ($_->{flags} // "") =~ / dc / && $_->{flags} =~ / hg / } @vmas;
open(my $pm, "<:raw", "/proc/$pid/pagemap") or die "cannot read /proc/$pid/pagemap: $!\n";
my ($ramBytes, $pop, $alloc, $done, @err) = (0, 0, 0, 0);
my $pidfd = -1;
if ($cmd eq "collapse") { $pidfd = syscall(434, $pid + 0, 0); die "pidfd_open: $!\n" if $pidfd < 0 }
for my $v (@ram) {
  my $lo = int(($v->{lo} + $PMD - 1) / $PMD) * $PMD; my $hi = int($v->{hi} / $PMD) * $PMD;
  next if $hi <= $lo;
  $ramBytes += $hi - $lo;
  sysseek($pm, ($lo / 4096) * 8, 0) or die "pagemap seek: $!\n";
  my $want = (($hi - $lo) / 4096) * 8; my $buf = "";
  while (length($buf) < $want) { my $n = sysread($pm, $buf, $want - length($buf), length($buf)); die "pagemap read: $!\n" unless $n }
  my @e = unpack("Q<*", $buf);
  for (my $c = 0; $c < @e; $c += 512) {
    my ($missing, %seen) = (0);
    for my $i ($c .. $c + 511) {
      my $x = $e[$i]; my $pfn = $x & 0x7FFFFFFFFFFFFF;
      die "frame numbers unreadable (needs root)\n" if (($x >> 63) & 1) && $pfn == 0;
      $missing++ if !(($x >> 63) & 1) || $seen{$pfn}++;
    }
    my $a = $lo + ($c / 512) * $PMD;
    if ($missing == 0) { $pop += $PMD } else { $alloc += $missing * 4096 }
    next unless $cmd eq "collapse" && ($missing == 0 || ($scope // "") eq "all");
    # One range per call: process_madvise stops at the first range that fails.
    my $n = syscall(440, $pidfd, pack("Q<Q<", $a, $PMD), 1, 25, 0);
    if ($n < 0) { push @err, sprintf("%x: %s", $a, $!) if @err < 8 } else { $done += $n }
  }
}
my ($avail, $total) = (0, 0);
if (open(my $mi, "<", "/proc/meminfo")) { while (<$mi>) { $avail = $1 * 1024 if /^MemAvailable:\s+(\d+)/; $total = $1 * 1024 if /^MemTotal:\s+(\d+)/ } }
printf("{\"ramBytes\":%d,\"populatedBytes\":%d,\"wouldAllocateBytes\":%d,\"memAvailableBytes\":%d,\"memTotalBytes\":%d,\"collapsedBytes\":%d,\"errors\":[%s],\"ms\":%.1f}\n",
  $ramBytes, $pop, $alloc, $avail, $total, $done, join(",", map { "\"$_\"" } @err), (time - $t0) * 1000);
