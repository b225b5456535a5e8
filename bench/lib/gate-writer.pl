#!/usr/bin/perl
# The vmstate writer of the bench's `gated` method (bench/lib/gate.ts), run by QEMU as its `exec:` target:
#   perl gate-writer.pl <control socket> <vmstate file>
# Its first act, before QEMU's migration thread has finished walking guest RAM, is to shrink its stdin
# pipe (QEMU's stream) to one page and fill that page itself, so QEMU's first write (the end of its
# setup, QEMU 7.2 ram_save_setup's qemu_fflush, taken without the BQL) blocks. It tells the controller
# "gated" (or "open" when QEMU had already written: the race was lost), waits for "go" (or the control
# socket closing, or 30 s: the gate never holds QEMU longer), discards its own filler page and writes the
# rest of the stream to the file. It never stops reading before QEMU's EOF: a write error only turns the
# copy into a drain (a broken stream would freeze a 7.2 guest, QEMU.md §2).
# Constants are spelled out so the gate closes before any module loads: F_SETPIPE_SZ = 1031,
# O_WRONLY|O_NONBLOCK = 04001; /proc/self/fd/0 opened for writing is a second write end of the same pipe.
my $gated = 0;
if (fcntl(STDIN, 1031, 4096) && sysopen(my $w, "/proc/self/fd/0", 04001)) {
  my $n = syswrite($w, "\0" x 4096);
  $gated = defined $n && $n == 4096;
  close $w;
}
use strict; use warnings;
use IO::Socket::UNIX;
my ($ctl, $file) = @ARGV;
my $s = IO::Socket::UNIX->new(Peer => $ctl, Type => SOCK_STREAM);
if ($s) {
  print $s ($gated ? "gated\n" : "open\n");
  $s->flush;
  if ($gated) {
    my $rin = ''; vec($rin, fileno($s), 1) = 1;
    my $ready = select(my $rout = $rin, undef, undef, 30);
    my $go = $ready > 0 ? <$s> : undef;
  }
}
binmode STDIN;
if ($gated) { my $left = 4096; while ($left > 0) { my $n = sysread(STDIN, my $b, $left); last unless $n; $left -= $n } }
my $out;
my $error = open($out, ">:raw", $file) ? undef : "open $file: $!";
my $total = 0;
while (1) {
  my $n = sysread(STDIN, my $buf, 1 << 20);
  last unless $n;
  if (!$error && !defined syswrite($out, $buf)) { $error = "write: $!" }
  $total += $n unless $error;
}
close $out if $out;
if ($s) { print $s ($error ? "error $error\n" : "done $total\n"); close $s }
