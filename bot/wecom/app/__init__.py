"""WeCom (企业微信) for staff, managers and supervisors: the self-built app's callback, its
handlers, its cards (``template_card`` of type ``button_interaction``) and its sender."""
