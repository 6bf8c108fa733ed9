#!/usr/bin/perl
# tee-stdout.pl [--copy] [--verbose] -- COMMAND [ARG...]
#
# Runs COMMAND with its standard output going to two places: this script's fd 1 (the next stage
# of a pipeline, zstd say) and fd 3 (Node, which reads the dump to check its footer, table of
# contents and rows). Node could relay the bytes itself, but every chunk would then cross the
# kernel twice more and wake the event loop; on 2 cores that was the largest cost of backup-db.
# Here the kernel duplicates the pages: tee(2) copies a pipe's contents to a second pipe without
# consuming them, and splice(2) moves each copy on, so no byte passes through user space.
# Node has no binding for either call; perl (perl-base is Essential on Debian and Ubuntu, and
# pg_dump's own wrapper there is perl) reaches them through syscall().
#
# With --copy, on a machine whose syscall numbers are not listed here, or where the calls are
# refused (a seccomp filter), the same is done with plain reads and writes. --verbose says which.
#
# Exit status: COMMAND's own; when COMMAND dies by a signal this script dies by the same signal,
# so the caller sees what really happened. A COMMAND that cannot start gives 127 and a line
# "tee-stdout: cannot run NAME: REASON". SIGTERM, SIGINT and SIGHUP are passed on to COMMAND.
# When a reader of fd 1 or fd 3 goes away, this script dies by SIGPIPE, and COMMAND gets SIGPIPE
# at its next write, as in a shell pipeline.
use strict;
use warnings;
use POSIX ();
use Errno qw(EINTR);

my ($copy, $verbose) = (0, 0);
while (@ARGV && $ARGV[0] =~ /^--/) {
  my $opt = shift @ARGV;
  last if $opt eq '--';
  if ($opt eq '--copy') { $copy = 1 }
  elsif ($opt eq '--verbose') { $verbose = 1 }
  else { die "tee-stdout: unknown option $opt\n" }
}
die "usage: tee-stdout.pl [--copy] [--verbose] -- COMMAND [ARG...]\n" unless @ARGV;
open(my $side, '>&=', 3) or die "tee-stdout: fd 3 is not open: $!\n";

# [splice, tee] system call numbers (Linux). Others fall back to copying.
my %NR = (x86_64 => [275, 276], aarch64 => [76, 77], riscv64 => [76, 77]);
my $nr = $NR{(POSIX::uname())[4]};
$copy = 1 unless $nr;

pipe(my $from, my $into) or die "tee-stdout: pipe: $!\n";
my $pid = fork() // die "tee-stdout: fork: $!\n";
if (!$pid) {
  close $from;
  close $side;
  POSIX::dup2(fileno($into), 1) // POSIX::_exit(126);
  close $into;
  { no warnings 'exec'; exec { $ARGV[0] } @ARGV; }
  print STDERR "tee-stdout: cannot run $ARGV[0]: $!\n";
  POSIX::_exit(127);
}
close $into;
for my $s (qw(TERM INT HUP)) { $SIG{$s} = sub { kill $s, $pid } }

my $in = fileno($from);
# Bigger pipes, fewer rounds (F_SETPIPE_SZ; refused above fs.pipe-max-size, which is harmless).
fcntl($from, 1031, 1 << 20);

# Move exactly $n bytes from pipe $src to $dst with splice(2).
sub splice_all {
  my ($src, $dst, $n) = @_;
  while ($n > 0) {
    my $m = syscall($nr->[0], $src, 0, $dst, 0, $n, 0);
    if ($m < 0) { next if $! == EINTR; die "tee-stdout: splice: $!\n" }
    die "tee-stdout: splice: pipe emptied under us\n" if $m == 0;
    $n -= $m;
  }
}

pipe(my $dupr, my $dupw) or die "tee-stdout: pipe: $!\n";
if (!$copy) {
  # Zero-length calls touch no data: they fail only where the calls themselves are refused
  # (ENOSYS, or EPERM from a seccomp filter), and then plain copying takes over before any byte moved.
  for my $probe ([$nr->[1], $in, fileno($dupw), 0, 0], [$nr->[0], fileno($dupr), 0, 1, 0, 0, 0], [$nr->[0], fileno($dupr), 0, 3, 0, 0, 0]) {
    my ($number, @args) = @$probe;    # syscall's first argument is taken in scalar context
    $copy = 1 if syscall($number, @args) < 0;
  }
}
print STDERR 'tee-stdout: copying with ', ($copy ? 'read(2)/write(2)' : 'tee(2)/splice(2)'), "\n" if $verbose;
if (!$copy) {
  fcntl($dupw, 1031, 1 << 20);
  while (1) {
    # Duplicate what is waiting (without consuming it), then move both copies on.
    my $n = syscall($nr->[1], $in, fileno($dupw), 1 << 20, 0);
    if ($n < 0) { next if $! == EINTR; die "tee-stdout: tee: $!\n" }
    last if $n == 0;
    splice_all($in, 1, $n);
    splice_all(fileno($dupr), 3, $n);
  }
}

if ($copy) {
  my $buf = '';
  while (1) {
    my $n = sysread($from, $buf, 1 << 20);
    if (!defined $n) { next if $! == EINTR; die "tee-stdout: read: $!\n" }
    last if $n == 0;
    for my $out (\*STDOUT, $side) {
      my $off = 0;
      while ($off < $n) {
        my $w = syswrite($out, $buf, $n - $off, $off);
        if (!defined $w) { next if $! == EINTR; die "tee-stdout: write: $!\n" }
        $off += $w;
      }
    }
  }
}

# End of input: let both readers see end of file, then report what COMMAND did.
close STDOUT;
close $side;
close $from;
while (waitpid($pid, 0) != $pid) { die "tee-stdout: waitpid: $!\n" unless $! == EINTR }
my $status = $?;
if (my $sig = $status & 127) {
  $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP PIPE);
  kill $sig, $$;
  POSIX::_exit(128 + $sig);
}
exit($status >> 8);
