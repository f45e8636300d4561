# Shell completion (included by the top Makefile.am). configure picks the
# folders (--with-bash-completion-dir, --with-zsh-completion-dir); both
# default to folders under ${prefix}, so make distcheck and
# make install DESTDIR=... stay inside the tree they install to.
# bash-completion loads completions/<command> on the first <TAB>: the file is
# installed under the command's name; zsh's is _dumpview on $fpath.
EXTRA_DIST += completion/dumpview.bash completion/_dumpview

.PHONY: install-completion uninstall-completion
install-data-local: install-completion
uninstall-local: uninstall-completion

install-completion:
if BASH_COMPLETION
	$(MKDIR_P) '$(DESTDIR)$(bashcompletiondir)'
	$(INSTALL_DATA) '$(srcdir)/completion/dumpview.bash' '$(DESTDIR)$(bashcompletiondir)/dumpview'
endif
if ZSH_COMPLETION
	$(MKDIR_P) '$(DESTDIR)$(zshcompletiondir)'
	$(INSTALL_DATA) '$(srcdir)/completion/_dumpview' '$(DESTDIR)$(zshcompletiondir)/_dumpview'
endif

uninstall-completion:
if BASH_COMPLETION
	rm -f '$(DESTDIR)$(bashcompletiondir)/dumpview'
endif
if ZSH_COMPLETION
	rm -f '$(DESTDIR)$(zshcompletiondir)/_dumpview'
endif
