"""What the C libraries print while a stream opens: left out, the show's own lines kept."""
import os
import sys

from live.stderr import QuietStderr


def test_the_c_libraries_lines_are_left_out_and_the_show_s_kept(capfd):
    with QuietStderr():
        os.write(2, b"ALSA lib pcm_pulse.c:758:(pulse_prepare) PulseAudio: Unable to create stream: No such entity\n")
        os.write(2, b"Expression 'r' failed in 'src/hostapi/alsa/pa_linux_alsa.c', line: 2097\n\n")
        print("live: audio: reopening 'pulse': ...", file=sys.stderr)  # written meanwhile: kept, in order
        os.write(2, b"a line no library is known for\n")
    assert capfd.readouterr().err == "live: audio: reopening 'pulse': ...\na line no library is known for\n"
    os.write(2, b"ALSA lib after: printed\n")  # fd 2 is the terminal again
    assert capfd.readouterr().err == "ALSA lib after: printed\n"


def test_an_open_that_hangs_gives_fd_2_back_when_released_from_another_thread(capfd):
    quiet = QuietStderr()
    quiet.__enter__()  # the open under way, on the reopen's thread
    os.write(2, b"ALSA lib noise\n")
    quiet.release()  # the watchdog stops waiting
    os.write(2, b"live: audio: the audio driver has not returned\n")
    assert capfd.readouterr().err == "live: audio: the audio driver has not returned\n"
    quiet.__exit__(None, None, None)  # the open returns at last: nothing more to give back
    late = QuietStderr()
    late.release()
    with late:  # released before its open began: it leaves fd 2 alone
        os.write(2, b"ALSA lib seen\n")
    assert capfd.readouterr().err == "ALSA lib seen\n"
