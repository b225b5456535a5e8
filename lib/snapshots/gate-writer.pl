#!/usr/bin/perl
# The vmstate relay of a gated snapshot (ram-walk-gate.ts), run by QEMU as its `migrate exec:` target on
# local hosts with QEMU < 9:   perl gate-writer.pl <control socket> <sink socket>
#
# 1. The gate, in a BEGIN block so it runs before any module is loaded (the race it must win is the time
#    QEMU's migration thread spends walking guest RAM, ~4.5 ms per GiB): shrink stdin (QEMU's pipe) to
#    one page and fill that page from a second write end (/proc/self/fd/0). QEMU's first write, the end
#    of its setup (7.2 ram_save_setup's qemu_fflush, made without the BQL), then blocks. A 4096-byte
#    O_NONBLOCK write is atomic (PIPE_BUF): it fails, writing nothing, when QEMU's bytes are already in
#    the pipe, so a lost race leaves QEMU's stream intact ("open").
# 2. Detach: the first process exits at once and a child that ignores HUP/INT/TERM/PIPE/QUIT/TSTP carries
#    on, so QEMU's end-of-stream waitpid never waits on the copy.
# 3. Tell the dashboard "gated" or "open" on the control socket; when gated, wait for "go" or for the
#    control socket to close. No timeout while the dashboard is connected: it alone knows when the disks
#    are taken. A close without "go" (the dashboard died, or never connected) opens the gate too — it
#    must never outlive its holder — but that stream is drained, never relayed: nobody can say whether
#    the disks were taken before QEMU went on, so no vmstate of it may exist.
# 4. Drop the filler page, give the pipe back a 1 MiB buffer and copy QEMU's stream to the vmstate sink
#    (vmstate-sink.ts: it writes, checks and records the file). It never stops reading before QEMU's EOF:
#    a sink that is gone or fails turns the copy into a drain (a broken stream freezes a 7.2 guest,
#    QEMU.md §2). Last line on the control socket: "done <bytes>" or "error <why>".
# Constants are spelled out so nothing needs loading before the gate: F_SETPIPE_SZ = 1031,
# O_WRONLY|O_NONBLOCK = 04001.
BEGIN {
  $main::GATED = 0;
  if (fcntl(STDIN, 1031, 4096) && sysopen(my $w, "/proc/self/fd/0", 04001)) {
    my $n = syswrite($w, "\0" x 4096);
    $main::GATED = defined $n && $n == 4096 ? 1 : 0;
    close $w;
  }
}
use strict;
use warnings;
use POSIX ();
use IO::Socket::UNIX;

my ($ctl_path, $sink_path) = @ARGV;
my $pid = fork();
POSIX::_exit(0) if defined $pid && $pid > 0;
$SIG{$_} = 'IGNORE' for qw(HUP INT TERM PIPE QUIT TSTP);

my $ctl = IO::Socket::UNIX->new(Peer => $ctl_path, Type => SOCK_STREAM);
my $relay = !$main::GATED;
if ($ctl) {
  $ctl->autoflush(1);
  print $ctl ($main::GATED ? "gated\n" : "open\n");
  if ($main::GATED) {
    my $go = <$ctl>;
    $relay = defined $go && $go eq "go\n";
  }
}
binmode STDIN;
if ($main::GATED) {
  my $left = 4096;
  while ($left > 0) { my $n = sysread(STDIN, my $b, $left); last unless $n; $left -= $n }
}
fcntl(STDIN, 1031, 1 << 20);

my $sink = $relay ? IO::Socket::UNIX->new(Peer => $sink_path, Type => SOCK_STREAM) : undef;
my $error = !$relay ? "the dashboard left before opening the gate: stream drained" : $sink ? undef : "cannot reach the sink: $!";
my $total = 0;
while (1) {
  my $n = sysread(STDIN, my $buf, 1 << 20);
  last unless $n;
  $total += $n;
  next if $error;
  my $off = 0;
  while ($off < $n) {
    my $w = syswrite($sink, $buf, $n - $off, $off);
    if (!defined $w) { $error = "writing to the sink: $!"; last }
    $off += $w;
  }
}
close $sink if $sink;
print $ctl ($error ? "error $error\n" : "done $total\n") if $ctl;
