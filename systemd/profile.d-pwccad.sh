# /etc/profile.d/pwccad.sh -- points pwcca at the system service's database and
# socket for every login shell (members of the pwccad group can use them).
# A user's own --db/--socket flags, or their own PWCCAD_DB/PWCCAD_SOCKET set
# before this runs, still win.
: "${PWCCAD_DB:=/var/lib/pwccad/pwccad.db}"
: "${PWCCAD_SOCKET:=/run/pwccad/pwccad.sock}"
export PWCCAD_DB PWCCAD_SOCKET
